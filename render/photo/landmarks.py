"""Index sets of MediaPipe's 478-point face mesh the photo rig moves.

Sides follow ARKit (the subject's own): ``LEFT`` is the image's right for a frontal portrait.
"""

from __future__ import annotations

LIP_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIP_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNER = {"Right": 61, "Left": 291}
INNER_CORNER = {"Right": 78, "Left": 308}

# eyelids, outer corner → inner corner
EYE_UPPER = {"Right": (33, 246, 161, 160, 159, 158, 157, 173, 133),
             "Left": (263, 466, 388, 387, 386, 385, 384, 398, 362)}
EYE_LOWER = {"Right": (33, 7, 163, 144, 145, 153, 154, 155, 133),
             "Left": (263, 249, 390, 373, 374, 380, 381, 382, 362)}
IRIS_CENTRE = {"Right": 468, "Left": 473}
IRIS_RING = {"Right": (469, 470, 471, 472), "Left": (474, 475, 476, 477)}
BROW = {"Right": (46, 53, 52, 65, 55, 70, 63, 105, 66, 107),
        "Left": (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)}
BROW_INNER = {"Right": 55, "Left": 285}
BROW_OUTER = {"Right": 46, "Left": 276}
NOSE_WING = {"Right": 98, "Left": 327}
CHEEK = {"Right": 205, "Left": 425}
NOSE_TIP = 1
NOSE_BASE = 2
CHIN = 152
FOREHEAD = 10

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
SIDES = ("Left", "Right")


def tessellation() -> list[tuple[int, int, int]]:
    """MediaPipe's canonical face-mesh triangles (mouth and eyes are holes)."""
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    edges = [(c.start, c.end) for c in C.FACE_LANDMARKS_TESSELATION]
    near: dict[int, set[int]] = {}
    for a, b in edges:
        near.setdefault(a, set()).add(b)
        near.setdefault(b, set()).add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in near[a] & near[b]}
    return sorted(tris)
