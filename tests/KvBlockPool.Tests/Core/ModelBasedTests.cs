using System.Globalization;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Seeded random sequences of every operation, valid and invalid, run against the pool and a reference model;
/// after every step the two must agree and every invariant must hold. A failure names the seed: replay it alone
/// with <c>KVBLOCKPOOL_MODEL_SEED=&lt;seed&gt; KVBLOCKPOOL_MODEL_SEQUENCES=1</c>.
/// </summary>
public sealed class ModelBasedTests(ITestOutputHelper output)
{
    private const int DefaultBaseSeed = 20_261_125;
    private const int DefaultSequences = 2_000;
    private const int StepsPerSequence = 60;

    [Fact]
    public void Random_operation_sequences_agree_with_the_reference_model()
    {
        int baseSeed = EnvironmentInt("KVBLOCKPOOL_MODEL_SEED") ?? DefaultBaseSeed;
        int sequences = EnvironmentInt("KVBLOCKPOOL_MODEL_SEQUENCES") ?? DefaultSequences;
        int steps = 0;
        for (int i = 0; i < sequences; i++)
        {
            int seed = baseSeed + i;
            var run = new ModelRun(seed);
            try
            {
                run.Execute(StepsPerSequence);
                steps += run.Steps;
            }
            catch (Exception ex)
            {
                string replay = string.Create(CultureInfo.InvariantCulture, $"KVBLOCKPOOL_MODEL_SEED={seed} KVBLOCKPOOL_MODEL_SEQUENCES=1");
                output.WriteLine($"Model-based sequence failed with seed {seed}; replay with {replay}");
                output.WriteLine(run.Log);
                throw new XunitException($"Model-based sequence failed with seed {seed} at step {run.Steps} (replay: {replay}).{Environment.NewLine}Last steps:{Environment.NewLine}{run.Log}{Environment.NewLine}{ex}");
            }
        }

        output.WriteLine($"{sequences} sequences, {steps} steps, seeds {baseSeed}..{baseSeed + sequences - 1}");
    }

    private static int? EnvironmentInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : null;

    /// <summary>One sequence: a pool, its model, and the handles the test has seen.</summary>
    private sealed class ModelRun(int seed)
    {
        private readonly Random _random = new(seed);
        private readonly Queue<string> _log = new();
        private readonly List<KvBlock> _retired = []; // freed, or from an earlier configuration
        private readonly Dictionary<int, AllocationScope> _scopes = [];
        private BlockPool _pool = null!;
        private BlockPool _stranger = null!;
        private ReferenceModel _model = null!;
        private int _nextScope;

        public int Steps { get; private set; }

        public string Log => string.Join(Environment.NewLine, _log);

        public void Execute(int steps)
        {
            int capacity = _random.Next(4, 25);
            int layers = _random.Next(1, 4);
            BlockClearMode mode = _random.Next(3) == 0 ? BlockClearMode.None : BlockClearMode.ZeroOnFree;
            bool diagnostics = _random.Next(10) == 0; // diagnostics records a stack per allocation: slower, so 1 sequence in 10
            Note($"pool capacity {capacity}, {layers} layers, {mode}, diagnostics {diagnostics}");
            _model = new ReferenceModel(capacity, layers, mode, diagnostics);
            using BlockPool pool = TestPools.Create(capacity, layers, mode, diagnostics, blocksPerSlab: _random.Next(0, 5));
            using BlockPool stranger = TestPools.Create(capacity: 4, layers: 3);
            _pool = pool;
            _stranger = stranger;
            _retired.Add(stranger.Allocate(new AgentId(1), 2));
            for (Steps = 0; Steps < steps; Steps++)
            {
                Step();
                Compare();
            }

            foreach (AllocationScope scope in _scopes.Values)
            {
                scope.Dispose();
            }
        }

        private void Step()
        {
            switch (_random.Next(100))
            {
                case < 22: Allocate(); break;
                case < 30: AllocateAllLayers(); break;
                case < 50: Free(); break;
                case < 55: FreeAgent(); break;
                case < 60: BeginScope(); break;
                case < 68: ScopeAllocate(); break;
                case < 73: EndScope(); break;
                case < 85: TouchData(); break;
                case < 90: UseBadHandle(); break;
                case < 94: Reconfigure(); break;
                default: CheckViews(); break;
            }
        }

        private long RandomAgent() => _random.Next(0, 6);

        private int RandomLayer() => _random.Next(20) == 0 ? (_random.Next(2) == 0 ? -1 : _model.Layers) : _random.Next(_model.Layers);

        private void Allocate()
        {
            long agent = RandomAgent();
            int layer = RandomLayer();
            int count = _random.Next(1, 5);
            int form = _random.Next(4);
            Note($"allocate agent {agent} layer {layer} count {count} form {form}");
            bool layerOk = (uint)layer < (uint)_model.Layers;
            bool fits = count <= _model.Free.Count;
            var id = new AgentId(agent);
            if (!layerOk || !fits)
            {
                Type expected = layerOk ? typeof(BlockPoolExhaustedException) : typeof(ArgumentOutOfRangeException);
                if (form == 3 && layerOk)
                {
                    AssertUnchanged(() => Assert.False(_pool.TryAllocate(id, layer, new KvBlock[count])));
                    return;
                }

                ExpectRefusal(expected, () =>
                {
                    switch (form)
                    {
                        case 0 when count == 1: _pool.Allocate(id, layer); break;
                        case 0 or 1: _pool.Allocate(id, layer, count); break;
                        case 2: _pool.Allocate(id, layer, new KvBlock[count]); break;
                        default: _pool.TryAllocate(id, layer, new KvBlock[count]); break;
                    }
                });
                return;
            }

            KvBlock[] got = form switch
            {
                0 when count == 1 => [_pool.Allocate(id, layer)],
                0 or 1 => _pool.Allocate(id, layer, count),
                2 => Fill(buffer => _pool.Allocate(id, layer, buffer), count),
                _ => Fill(buffer => Assert.True(_pool.TryAllocate(id, layer, buffer)), count),
            };
            Expect(_model.Pop(new ReferenceModel.Holder(agent, -1, layer), count), got, layer);
        }

        private void AllocateAllLayers()
        {
            long agent = RandomAgent();
            int perLayer = _random.Next(1, 4);
            int form = _random.Next(3);
            int total = perLayer * _model.Layers;
            Note($"allocate all layers agent {agent} x{perLayer} form {form}");
            var id = new AgentId(agent);
            if (total > _model.Free.Count)
            {
                if (form == 2)
                {
                    AssertUnchanged(() => Assert.False(_pool.TryAllocateAllLayers(id, perLayer, new KvBlock[total])));
                }
                else
                {
                    ExpectRefusal(typeof(BlockPoolExhaustedException), () => _ = form == 0 ? _pool.AllocateAllLayers(id, perLayer) : Fill(b => _pool.AllocateAllLayers(id, perLayer, b), total));
                }

                return;
            }

            KvBlock[] got = form switch
            {
                0 => _pool.AllocateAllLayers(id, perLayer),
                1 => Fill(b => _pool.AllocateAllLayers(id, perLayer, b), total),
                _ => Fill(b => Assert.True(_pool.TryAllocateAllLayers(id, perLayer, b)), total),
            };
            for (int layer = 0; layer < _model.Layers; layer++)
            {
                Expect(_model.Pop(new ReferenceModel.Holder(agent, -1, layer), perLayer), got[(layer * perLayer)..((layer + 1) * perLayer)], layer);
            }
        }

        private void Free()
        {
            long agent = RandomAgent();
            List<KvBlock> held = HandlesOf(agent);
            var request = held.OrderBy(_ => _random.Next()).Take(_random.Next(0, held.Count + 1)).ToList();
            int corruption = _random.Next(3) == 0 ? _random.Next(7) : -1;
            KvBlock? bad = corruption switch
            {
                0 when _retired.Count > 0 => _retired[_random.Next(_retired.Count)],
                1 => default(KvBlock),
                2 when request.Count > 0 => request[_random.Next(request.Count)],
                3 => AnyHeldHandle(),
                4 when held.Count > 0 && _model.Layers > 1 => WrongLayer(held[_random.Next(held.Count)]),
                5 when _model.Stamp is int stamp => new KvBlock(_random.Next(_model.Capacity + 2) - 1, 0, (uint)_random.Next(4), stamp),
                6 => ScopeHandle(),
                _ => null,
            };
            if (bad is KvBlock inserted)
            {
                request.Insert(_random.Next(request.Count + 1), inserted);
            }

            Note($"free agent {agent}: {string.Join(", ", request)}");
            Type? expected = _model.FreeOutcome(agent, request);
            if (expected is not null)
            {
                ExpectRefusal(expected, () => FreeThrough(agent, request));
                return;
            }

            FreeThrough(agent, request);
            foreach (KvBlock block in request)
            {
                _model.Agents[agent][block.Layer].Remove(block.Id);
                _retired.Add(block);
            }

            _model.ReleaseAll(request.Select(b => b.Id));
        }

        private void FreeThrough(long agent, List<KvBlock> request)
        {
            if (request.Count == 1 && _random.Next(2) == 0)
            {
                _pool.Free(new AgentId(agent), request[0]);
            }
            else
            {
                _pool.Free(new AgentId(agent), request.ToArray());
            }
        }

        private void FreeAgent()
        {
            long agent = RandomAgent();
            Note($"free agent {agent} entirely");
            int expected = _model.BlockCount(agent);
            if (expected == 0)
            {
                AssertUnchanged(() => Assert.Equal(0, _pool.FreeAgent(new AgentId(agent))));
                return;
            }

            _retired.AddRange(HandlesOf(agent));
            Assert.Equal(expected, _pool.FreeAgent(new AgentId(agent)));
            List<int>[] lists = _model.Agents[agent];
            _model.Agents.Remove(agent);
            _model.ReleaseAll(lists.SelectMany(l => l).ToList());
        }

        private void BeginScope()
        {
            if (_scopes.Count >= 2)
            {
                return;
            }

            long agent = RandomAgent();
            int number = _nextScope++;
            Note($"begin scope {number} for agent {agent}");
            _scopes.Add(number, _pool.BeginScope(new AgentId(agent)));
            _model.Scopes.Add(number, _model.NewLists());
        }

        private void ScopeAllocate()
        {
            if (_scopes.Count == 0)
            {
                return;
            }

            (int number, AllocationScope scope) = _scopes.ElementAt(_random.Next(_scopes.Count));
            int layer = RandomLayer();
            int count = _random.Next(1, 4);
            Note($"scope {number} allocate layer {layer} count {count}");
            if ((uint)layer >= (uint)_model.Layers)
            {
                ExpectRefusal(typeof(ArgumentOutOfRangeException), () => scope.Allocate(layer, count));
                return;
            }

            if (count > _model.Free.Count)
            {
                if (_random.Next(2) == 0)
                {
                    AssertUnchanged(() => Assert.False(scope.TryAllocate(layer, new KvBlock[count])));
                }
                else
                {
                    ExpectRefusal(typeof(BlockPoolExhaustedException), () => scope.Allocate(layer, count));
                }

                return;
            }

            KvBlock[] got = count == 1 ? [scope.Allocate(layer)] : scope.Allocate(layer, count);
            Expect(_model.Pop(new ReferenceModel.Holder(scope.Agent.Value, number, layer), count), got, layer);
            Assert.Equal(_model.Scopes[number].Sum(l => l.Count), scope.BlockCount);
        }

        private void EndScope()
        {
            if (_scopes.Count == 0)
            {
                return;
            }

            (int number, AllocationScope scope) = _scopes.ElementAt(_random.Next(_scopes.Count));
            bool commit = _random.Next(2) == 0;
            Note($"{(commit ? "commit" : "dispose")} scope {number}");
            _scopes.Remove(number);
            List<int>[] lists = _model.Scopes[number];
            _model.Scopes.Remove(number);
            long agent = scope.Agent.Value;
            if (commit)
            {
                scope.Commit();
                if (lists.Any(l => l.Count > 0))
                {
                    for (int layer = 0; layer < _model.Layers; layer++)
                    {
                        List<int> target = _model.ListOf(new ReferenceModel.Holder(agent, -1, layer));
                        foreach (int id in lists[layer])
                        {
                            target.Add(id);
                            _model.HeldBy[id] = new ReferenceModel.Holder(agent, -1, layer);
                        }
                    }
                }
            }
            else
            {
                scope.Dispose();
                _model.ReleaseAll(lists.SelectMany(l => l).ToList());
            }

            scope.Dispose(); // ending twice is a no-op
            ExpectRefusal(typeof(ObjectDisposedException), () => scope.Allocate(0));
        }

        private void TouchData()
        {
            KvBlock? maybe = AnyHeldHandle();
            if (maybe is not KvBlock block)
            {
                return;
            }

            byte value = (byte)_random.Next(1, 200);
            Note($"write {value} to {block}");
            Span<byte> data = _pool.GetBlockSpan(block);
            AssertContent(data, _model.Content[block.Id]);
            AssertContent(_random.Next(2) == 0 ? _pool.GetKeySpan(block) : _pool.GetValueSpan(block), _model.Content[block.Id]);
            data.Fill(value);
            _model.Content[block.Id] = value;
        }

        private void UseBadHandle()
        {
            KvBlock? maybe = _random.Next(4) switch
            {
                0 when _retired.Count > 0 => _retired[_random.Next(_retired.Count)],
                1 => AnyHeldHandle() is KvBlock held && _model.Layers > 1 ? WrongLayer(held) : null,
                2 when _model.Stamp is int stamp => new KvBlock(_random.Next(_model.Capacity), 0, (uint)_random.Next(4), stamp),
                _ => default(KvBlock),
            };
            if (maybe is not KvBlock block)
            {
                return;
            }

            Note($"access through {block}");
            Type? expected = _model.HandleOutcome(block, forFree: false);
            if (expected is null)
            {
                Assert.Equal(_model.Spec().BytesPerBlock, _pool.GetBlockSpan(block).Length);
                return;
            }

            ExpectRefusal(expected, () => _pool.GetBlockSpan(block));
        }

        private void Reconfigure()
        {
            int layers = _random.Next(1, 4);
            Note($"reconfigure to {layers} layers");
            KvCacheSpec spec = TestPools.Spec(layers);
            if (_model.Allocated > 0 || _scopes.Count > 0)
            {
                ExpectRefusal(typeof(BlockPoolInUseException), () => _pool.Reconfigure(spec));
                return;
            }

            _pool.Reconfigure(spec);
            _model.Reset(layers);
        }

        private void CheckViews()
        {
            long agent = RandomAgent();
            Note($"views of agent {agent}");
            AgentBlocks view = _pool.GetAgentBlocks(new AgentId(agent));
            Span<int> table = stackalloc int[_model.Capacity];
            Assert.Equal(_model.Layers, view.LayerCount);
            for (int layer = 0; layer < _model.Layers; layer++)
            {
                int[] expected = _model.Agents.TryGetValue(agent, out List<int>[]? lists) ? [.. lists[layer]] : [];
                Assert.Equal(expected, view.GetBlockIds(layer).ToArray());
                int written = _pool.CopyBlockIds(new AgentId(agent), layer, table);
                Assert.Equal(expected, table[..written].ToArray());
                Assert.Equal(expected.Length, _pool.GetBlockCount(new AgentId(agent), layer));
            }
        }

        /// <summary>After every step: the pool and the model agree, and every invariant holds.</summary>
        private void Compare()
        {
            PoolAssert.Invariants(_pool);
            BlockPoolStatistics stats = _pool.GetStatistics();
            Assert.Equal((_model.Capacity, _model.Free.Count, _model.HighWater, _model.Agents.Count), (stats.Capacity, stats.Available, stats.HighWaterMark, stats.Agents));
            IReadOnlyDictionary<AgentId, int> counts = _pool.GetBlockCountsByAgent();
            Assert.Equal(_model.Agents.Count, counts.Count);
            foreach ((long agent, List<int>[] lists) in _model.Agents)
            {
                Assert.Equal(lists.Sum(l => l.Count), counts[new AgentId(agent)]);
            }

            Assert.Equal(1, _stranger.AllocatedBlocks);
        }

        private List<KvBlock> HandlesOf(long agent)
        {
            var handles = new List<KvBlock>();
            AgentBlocks view = _pool.GetAgentBlocks(new AgentId(agent));
            for (int layer = 0; layer < view.LayerCount; layer++)
            {
                handles.AddRange(view.GetBlocks(layer));
            }

            return handles;
        }

        private KvBlock? AnyHeldHandle()
        {
            var all = _model.Agents.Keys.SelectMany(HandlesOf).ToList();
            return all.Count == 0 ? null : all[_random.Next(all.Count)];
        }

        private KvBlock? ScopeHandle()
        {
            foreach ((int number, List<int>[] lists) in _model.Scopes)
            {
                for (int layer = 0; layer < lists.Length; layer++)
                {
                    if (lists[layer].Count > 0 && _model.Stamp is int stamp)
                    {
                        int id = lists[layer][0];
                        return new KvBlock(id, layer, _model.Generation[id], stamp);
                    }
                }
            }

            return null;
        }

        private KvBlock WrongLayer(KvBlock block) => TestPools.Forge(block, layer: (block.Layer + 1) % _model.Layers);

        private void Expect(List<(int Id, uint Generation)> predicted, ReadOnlySpan<KvBlock> got, int layer)
        {
            Assert.Equal(predicted.Count, got.Length);
            for (int i = 0; i < got.Length; i++)
            {
                Assert.Equal((predicted[i].Id, layer, predicted[i].Generation), (got[i].Id, got[i].Layer, got[i].Generation));
                _model.Stamp ??= got[i].PoolStamp;
                Assert.Equal(_model.Stamp, got[i].PoolStamp);
                AssertContent(_pool.GetBlockSpan(got[i]), _model.Content[got[i].Id]);
            }
        }

        private static void AssertContent(ReadOnlySpan<byte> data, int expected)
        {
            if (expected >= 0)
            {
                Assert.Equal(-1, data.IndexOfAnyExcept((byte)expected));
            }
        }

        private void ExpectRefusal(Type expected, Action call)
        {
            string before = PoolAssert.Snapshot(_pool);
            Exception error = Assert.ThrowsAny<Exception>(call);
            Assert.True(error.GetType() == expected, $"expected {expected.Name}, got {error.GetType().Name}: {error.Message}");
            Assert.False(string.IsNullOrWhiteSpace(error.Message));
            Assert.Equal(before, PoolAssert.Snapshot(_pool));
        }

        private void AssertUnchanged(Action call)
        {
            string before = PoolAssert.Snapshot(_pool);
            call();
            Assert.Equal(before, PoolAssert.Snapshot(_pool));
        }

        private static KvBlock[] Fill(SpanAction fill, int count)
        {
            var buffer = new KvBlock[count];
            fill(buffer);
            return buffer;
        }

        private void Note(string step)
        {
            _log.Enqueue($"  [{Steps}] {step}");
            if (_log.Count > 25)
            {
                _log.Dequeue();
            }
        }

        private delegate void SpanAction(Span<KvBlock> buffer);
    }
}
