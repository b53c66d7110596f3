"""An offline rollout viewer: the bodies of a recorded Brax episode drawn from the side (x against
z, each body joined to its parent) with matplotlib, frame by frame, as rollout.gif and as
rollout.html, a page with the frames embedded as base64 PNGs and a few lines of inline script (no
external reference, so it works without the internet)."""

import base64
import html
import io
import os

import numpy as np

MAX_FRAMES = 120  # a long episode is subsampled to at most this many frames


def body_positions(states) -> np.ndarray:
    """(frames, bodies, 3) world positions of the bodies in recorded pipeline states (`x.pos`)."""
    return np.stack([np.asarray(s.x.pos, np.float64) for s in states])


def _frames(positions, parents, title, step_ms):
    """PNG bytes of each drawn frame (subsampled to MAX_FRAMES) and the frame indices drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(positions)
    picked = np.unique(np.linspace(0, n - 1, min(n, MAX_FRAMES)).round().astype(int))
    xz = positions[..., [0, 2]]
    lo, hi = xz.reshape(-1, 2).min(0), xz.reshape(-1, 2).max(0)
    pad = 0.1 * max(float((hi - lo).max()), 1e-3) + 0.2
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    pngs = []
    for i in picked:
        ax.clear()
        ax.axhline(0.0, color="0.6", lw=1)  # the ground plane, z = 0
        p = xz[i]
        for child, parent in enumerate(parents):
            if parent >= 0:
                ax.plot([p[parent, 0], p[child, 0]], [p[parent, 1], p[child, 1]], color="tab:blue", lw=3)
        ax.plot(p[:, 0], p[:, 1], "o", color="tab:red", ms=5)
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(min(lo[1], 0.0) - pad, hi[1] + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("z (m)")
        ax.set_title(f"{title}  t = {i * step_ms / 1000:.2f} s", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        pngs.append(buf.getvalue())
    plt.close(fig)
    return pngs, picked


def write_gif(path, pngs, fps) -> str:
    """An animated GIF of PNG frames (Pillow, which matplotlib depends on)."""
    from PIL import Image

    images = [Image.open(io.BytesIO(b)).convert("P", palette=Image.ADAPTIVE) for b in pngs]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def write_html(path, pngs, title, fps) -> str:
    """A self-contained page: the frames as data: URIs, play/pause and a slider in inline script."""
    frames = ",\n".join(f'"data:image/png;base64,{base64.b64encode(b).decode()}"' for b in pngs)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="font-family: sans-serif">
<h3>{html.escape(title)}</h3>
<img id="frame" alt="rollout frame"><br>
<button id="play">pause</button>
<input id="slider" type="range" min="0" max="{len(pngs) - 1}" value="0" style="width: 360px">
<span id="label"></span>
<script>
const frames = [
{frames}
];
const img = document.getElementById("frame"), slider = document.getElementById("slider");
const label = document.getElementById("label"), button = document.getElementById("play");
let i = 0, playing = true;
function show(k) {{ i = k; img.src = frames[i]; slider.value = i; label.textContent = (i + 1) + " / " + frames.length; }}
slider.oninput = () => show(Number(slider.value));
button.onclick = () => {{ playing = !playing; button.textContent = playing ? "pause" : "play"; }};
setInterval(() => {{ if (playing) show((i + 1) % frames.length); }}, {int(1000 / fps)});
show(0);
</script>
</body></html>
"""
    with open(path, "w") as f:
        f.write(page)
    return path


def write_rollout(out_dir, positions, parents, title="", step_ms=1.0) -> dict:
    """rollout.gif and rollout.html of an episode's body positions (frames, bodies, 3); `parents[i]`
    is body i's parent (-1: the world); `step_ms` is the time between recorded frames.  Returns
    {"gif": path, "html": path} (empty without matplotlib)."""
    try:
        pngs, picked = _frames(np.asarray(positions, np.float64), list(map(int, parents)), title, step_ms)
    except ImportError:
        return {}
    shown_ms = step_ms * (picked[1] - picked[0]) if len(picked) > 1 else step_ms
    fps = float(np.clip(1000.0 / max(shown_ms, 1e-3), 2, 30))  # real time where the frame rate allows
    return {"gif": write_gif(os.path.join(out_dir, "rollout.gif"), pngs, fps),
            "html": write_html(os.path.join(out_dir, "rollout.html"), pngs, title, fps)}
