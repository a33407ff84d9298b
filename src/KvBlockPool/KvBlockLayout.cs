namespace KvBlockPool;

/// <summary>
/// Where each element lies inside one half (K or V) of a block. Both layouts keep one head's
/// <see cref="KvCacheSpec.HeadDim"/> elements of one token contiguous (a "vector"); they differ in what comes next.
/// </summary>
/// <remarks>
/// The byte offset of element <c>d</c> of head <c>h</c> of token slot <c>t</c> inside a half is
/// <see cref="KvCacheSpec.GetVectorOffset"/>(t, h) + d, times <see cref="KvCacheSpec.ElementSize"/>; the V half starts
/// <see cref="KvCacheSpec.BytesPerHalf"/> bytes after the K half.
/// </remarks>
public enum KvBlockLayout
{
    /// <summary>
    /// <c>[head][token][dim]</c>, the default: one head's keys (or values) for all the block's tokens form one
    /// contiguous run of <see cref="KvCacheSpec.TokensPerBlock"/> x <see cref="KvCacheSpec.HeadDim"/> elements. This
    /// is the block layout of TensorRT-LLM's paged KV cache and FlashInfer's HND layout, and the order of an ONNX or
    /// Hugging Face <c>past</c> tensor (<c>[batch, heads, tokens, dim]</c>): a per-head attention kernel streams one
    /// run per block, and a host gathers a block into such a tensor with one copy per head.
    /// </summary>
    HeadMajor = 0,

    /// <summary>
    /// <c>[token][head][dim]</c>: one token's vectors for every head are contiguous (vLLM's FlashAttention backend
    /// and FlashInfer's NHD layout); writing one token is one copy, reading one head strides across tokens.
    /// </summary>
    TokenMajor = 1,
}
