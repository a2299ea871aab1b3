"""Draw ``docs/img/schedule.png``: the blocks and the fold behind one prefix state.

Not a hook: a helper kept next to them, run by hand when the picture should change
(``python docs/hooks/schedule_figure.py``; needs matplotlib, the ``plot`` extra). The picture
is computed from :func:`prlstm.schedule.prefix_blocks`, so it shows the package's own schedule.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from prlstm.schedule import prefix_blocks  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "img" / "schedule.png"
T = 13  # the state S_12: t + 1 = 13 = 8 + 4 + 1
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]


def main() -> None:
    blocks = prefix_blocks(T - 1)
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    node_y = {}
    for b, (start, size) in enumerate(blocks):
        colour = COLOURS[b % len(COLOURS)]
        level, width = 0, 1
        while width <= size:  # every level of this block's balanced tree
            for j in range(start, start + size, width):
                x = j + (width - 1) / 2
                y = level
                if width > 1:  # children are the two halves one level down
                    for cx in (j + (width // 2 - 1) / 2, j + width // 2 + (width // 2 - 1) / 2):
                        ax.plot([x, cx], [y, y - 1], color=colour, lw=1.2, zorder=1)
                ax.scatter([x], [y], s=260 if width == 1 else 330, color=colour, zorder=2,
                           edgecolors="white")
                label = f"x{j}" if width == 1 else "⊕"
                ax.text(x, y, label, ha="center", va="center", color="white", fontsize=8,
                        zorder=3)
            node_y[(start, size)] = level
            level, width = level + 1, width * 2
        ax.text(start + (size - 1) / 2, -0.75, f"block [{start},{start + size})",
                ha="center", va="top", color=colour, fontsize=9)
    # the left fold over the block roots, above everything
    top = max(node_y.values()) + 1.3
    roots = [(s + (z - 1) / 2, node_y[(s, z)]) for s, z in blocks]
    fx, fy = roots[0]
    for k, (rx, ry) in enumerate(roots[1:], start=1):
        nx, ny = (fx + rx) / 2 + 0.6, top + 0.7 * (k - 1)
        ax.plot([fx, nx], [fy, ny], color="black", lw=1.2, ls="--", zorder=1)
        ax.plot([rx, nx], [ry, ny], color="black", lw=1.2, ls="--", zorder=1)
        ax.scatter([nx], [ny], s=330, color="black", zorder=2)
        ax.text(nx, ny, "⊕", ha="center", va="center", color="white", fontsize=8, zorder=3)
        fx, fy = nx, ny
    ax.text(fx + 0.5, fy, f"S_{T - 1}", ha="left", va="center", fontsize=11)
    ax.set_title(f"The state at position t = {T - 1}: t + 1 = {T} = "
                 + " + ".join(str(z) for _, z in blocks)
                 + "; balanced trees over aligned blocks, then a left fold", fontsize=10)
    ax.set_xlim(-1, T + 1)
    ax.set_ylim(-1.6, fy + 0.8)
    ax.axis("off")
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
