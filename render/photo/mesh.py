"""The deformable mesh over a portrait and its precomputed interpolation tables.

Vertices: the 478 landmarks, a halo around the face oval (it follows the head half-way, so
hair and neck bend instead of tearing) and a ring on the border of the region of interest
(fixed: everything outside that rectangle is never touched). Triangles: MediaPipe's canonical
tessellation, strips that close its holes (mouth, eyes: they stretch when the lips part or the
lids close), and a Delaunay triangulation of the ring around the face. For each point of a
coarse grid over the region the table holds its triangle's three vertices and barycentric
weights, so a frame's dense displacement is a gather and a weighted sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.photo import landmarks as L

HALO_SCALE = 1.3  # halo ring radius as a multiple of the face oval's
MARGIN = 0.5  # region of interest: the face box grown by this share of its size on every side
BORDER_STEP = 40  # pixels between fixed points on the region's edge
GRID_STEP = 2.0  # pixels between flow samples (the flow is smooth; the image is sampled per pixel)


@dataclass(frozen=True, slots=True)
class Mesh:
    vertices: np.ndarray  # (V, 2) rest positions, output pixels
    depth: np.ndarray  # (V,) z of each vertex (pixels, > 0 away from the camera)
    n_face: int  # the first n_face vertices are the landmarks
    halo: slice
    triangles: np.ndarray  # (T, 3); the first n_skin are the face's own skin (the tessellation)
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    grid_shape: tuple[int, int]  # (gh, gw)
    tri_index: np.ndarray  # (gh*gw, 3) vertex ids
    bary: np.ndarray  # (gh*gw, 3)
    centre: np.ndarray  # face centre (x, y)
    n_skin: int = 0


def build_mesh(points: np.ndarray, size: tuple[int, int]) -> Mesh:
    w, h = size
    xy = points[:, :2].astype(np.float64)
    oval = xy[list(L.FACE_OVAL)]
    centre = oval.mean(axis=0)
    halo = centre + (oval - centre) * HALO_SCALE
    fx0, fy0 = oval.min(axis=0)
    fx1, fy1 = oval.max(axis=0)
    side = max(fx1 - fx0, fy1 - fy0)
    x0 = int(max(0, np.floor(min(fx0, halo[:, 0].min()) - MARGIN * side * 0.5)))
    y0 = int(max(0, np.floor(min(fy0, halo[:, 1].min()) - MARGIN * side * 0.5)))
    x1 = int(min(w, np.ceil(max(fx1, halo[:, 0].max()) + MARGIN * side * 0.5)))
    y1 = int(min(h, np.ceil(max(fy1, halo[:, 1].max()) + MARGIN * side * 0.5)))
    halo[:, 0] = halo[:, 0].clip(x0 + 2, x1 - 3)
    halo[:, 1] = halo[:, 1].clip(y0 + 2, y1 - 3)
    border = _rectangle(x0, y0, x1 - 1, y1 - 1)
    vertices = np.concatenate([xy, halo, border])
    n_face = len(xy)
    halo_ids = np.arange(n_face, n_face + len(halo))
    border_ids = np.arange(n_face + len(halo), len(vertices))
    oval_z = points[list(L.FACE_OVAL), 2]
    depth = np.concatenate([points[:, 2], oval_z, np.zeros(len(border))]).astype(np.float32)

    tris = [tuple(t) for t in L.tessellation()]
    n_skin = len(tris)
    tris += _strip(L.LIP_UPPER_INNER, L.LIP_LOWER_INNER)
    for s in L.SIDES:
        tris += _strip(L.EYE_UPPER[s], L.EYE_LOWER[s])
    tris += _ring(vertices, np.array(L.FACE_OVAL), halo_ids, border_ids)
    triangles = np.array(tris, dtype=np.int64)

    gw = max(2, int(round((x1 - x0 - 1) / GRID_STEP)) + 1)
    gh = max(2, int(round((y1 - y0 - 1) / GRID_STEP)) + 1)
    gx = x0 + np.linspace(0, x1 - x0 - 1, gw)
    gy = y0 + np.linspace(0, y1 - y0 - 1, gh)
    tri_index, bary = _tables(vertices, triangles, gx, gy)
    return Mesh(vertices.astype(np.float32), depth, n_face, slice(n_face, n_face + len(halo)),
                triangles, (x0, y0, x1, y1), (gh, gw), tri_index, bary, centre.astype(np.float32), n_skin)


def squeeze(mesh: Mesh, moved: np.ndarray) -> np.ndarray:
    """(N,) the smallest area share of a skin triangle after the vertices move to ``moved``
    (N, V, 2): 1 is no squeeze, 0 a triangle collapsed to a line, below 0 folded over."""
    tri = mesh.triangles[:mesh.n_skin]

    def area(p: np.ndarray) -> np.ndarray:
        a, b, c = p[..., tri[:, 0], :], p[..., tri[:, 1], :], p[..., tri[:, 2], :]
        return ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
                - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))

    rest = area(mesh.vertices.astype(np.float64))
    # the tessellation's slivers along the lips and lids fold without a visible trace; a smear
    # shows where a triangle with skin in it is squeezed
    big = np.abs(rest) > 0.3 * np.median(np.abs(rest))
    share = area(np.asarray(moved, np.float64))[:, big] / rest[big]
    return share.min(axis=1)


def _rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    nx = max(2, int(np.ceil((x1 - x0) / BORDER_STEP)) + 1)
    ny = max(2, int(np.ceil((y1 - y0) / BORDER_STEP)) + 1)
    xs, ys = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    pts = [(x, y0) for x in xs] + [(x, y1) for x in xs] + [(x0, y) for y in ys[1:-1]] + [(x1, y) for y in ys[1:-1]]
    return np.array(pts, dtype=np.float64)


def _strip(upper: tuple[int, ...], lower: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Triangles between two polylines that share their end points (a closed hole)."""
    out = []
    for i in range(len(upper) - 1):
        for t in ((upper[i], upper[i + 1], lower[i + 1]), (upper[i], lower[i + 1], lower[i])):
            if len(set(t)) == 3:
                out.append(t)
    return out


def _ring(vertices: np.ndarray, oval: np.ndarray, halo: np.ndarray, border: np.ndarray) -> list:
    """Delaunay triangles between the face oval, the halo and the border, outside the oval."""
    import cv2
    from scipy.spatial import Delaunay

    ids = np.concatenate([oval, halo, border])
    tri = Delaunay(vertices[ids])
    poly = vertices[oval].astype(np.float32).reshape(-1, 1, 2)
    oval_set = set(oval.tolist())
    out = []
    for simplex in tri.simplices:
        t = ids[simplex]
        if all(int(k) in oval_set for k in t):
            c = vertices[t].mean(axis=0)
            if cv2.pointPolygonTest(poly, (float(c[0]), float(c[1])), False) >= 0:
                continue
        out.append(tuple(int(k) for k in t))
    return out


def _tables(vertices: np.ndarray, triangles: np.ndarray, gx: np.ndarray, gy: np.ndarray):
    """Which triangle covers each grid point, and the point's barycentric weights in it."""
    import cv2
    from scipy.spatial import Delaunay

    gh, gw = len(gy), len(gx)
    sx = (gw - 1) / max(1e-9, gx[-1] - gx[0])
    sy = (gh - 1) / max(1e-9, gy[-1] - gy[0])
    ids = np.full((gh, gw), -1, np.int32)
    for k, t in enumerate(triangles):
        p = vertices[t]
        g = np.stack([(p[:, 0] - gx[0]) * sx, (p[:, 1] - gy[0]) * sy], axis=1)
        cv2.fillPoly(ids, [np.round(g * 16).astype(np.int32).reshape(-1, 1, 2)], int(k), lineType=cv2.LINE_8,
                     shift=4)
    X, Y = np.meshgrid(gx, gy)
    P = np.stack([X.ravel(), Y.ravel()], axis=1)
    flat = ids.ravel()
    missing = flat < 0
    if missing.any():  # thin slivers the rasteriser skipped: a plain Delaunay fills them
        d = Delaunay(vertices)
        s = d.find_simplex(P[missing])
        extra = d.simplices[np.maximum(s, 0)]
        outside = s < 0  # off the hull: the nearest vertex carries the point
        if outside.any():
            from scipy.spatial import cKDTree

            _, k = cKDTree(vertices).query(P[missing][outside])
            extra[outside] = k[:, None]
        tri_index = np.zeros((len(P), 3), np.int64)
        tri_index[~missing] = triangles[flat[~missing]]
        tri_index[missing] = extra
    else:
        tri_index = triangles[flat]
    a, b, c = (vertices[tri_index[:, k]] for k in range(3))
    v0, v1, v2 = b - a, c - a, P - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) > 1e-9
    den = np.where(ok, den, 1.0)
    l1 = np.where(ok, (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den, 0.0)
    l2 = np.where(ok, (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den, 0.0)
    bary = np.stack([1 - l1 - l2, l1, l2], axis=1).clip(0.0, 1.0)  # rasterised edges may stray
    bary /= bary.sum(axis=1, keepdims=True)  # a rigid motion must stay rigid
    return tri_index.astype(np.int64), bary.astype(np.float32)
