"""Draws src/icon.png, the packages' icon: a 4 x 4 pool of KV blocks, some handed out. Run once: python3 src/icon.py

Plain Python (zlib and struct) so that nothing needs installing; the PNG is committed, this is how to redraw it.
"""
import struct
import zlib
from pathlib import Path

SIZE = 128
CELLS = 4
MARGIN = 10
GAP = 6
RADIUS = 5
BACKGROUND = (24, 32, 48, 255)
FREE = (70, 84, 110, 255)
# Blocks held by three agents, as the pool hands them out per agent.
AGENTS = [(66, 165, 245, 255), (255, 167, 38, 255), (102, 187, 106, 255)]
LAYOUT = [
    "00.1",
    "0.11",
    "22.1",
    ".2..",
]


def inside_rounded(x, y, left, top, size, radius):
    """Whether pixel (x, y) lies in the square at (left, top) with rounded corners."""
    dx = max(left + radius - x, 0, x - (left + size - 1 - radius))
    dy = max(top + radius - y, 0, y - (top + size - 1 - radius))
    return dx * dx + dy * dy <= radius * radius


def colour_at(x, y):
    cell = (SIZE - 2 * MARGIN - (CELLS - 1) * GAP) // CELLS
    for row in range(CELLS):
        for column in range(CELLS):
            left = MARGIN + column * (cell + GAP)
            top = MARGIN + row * (cell + GAP)
            if inside_rounded(x, y, left, top, cell, RADIUS):
                mark = LAYOUT[row][column]
                return FREE if mark == "." else AGENTS[int(mark)]
    return BACKGROUND


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def main():
    rows = bytearray()
    for y in range(SIZE):
        rows.append(0)  # filter: none
        for x in range(SIZE):
            rows.extend(colour_at(x, y))
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 9))
    png += chunk(b"IEND", b"")
    Path(__file__).with_name("icon.png").write_bytes(png)


if __name__ == "__main__":
    main()
