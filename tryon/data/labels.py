"""Human-parse labels and keypoint orders: the one place that names them.

Internal parse maps use LIP's 20 labels; internal keypoints use the COCO-18 order. Other layouts are
converted on load (see ``tryon.data.formats``), never guessed.
"""

from __future__ import annotations

LIP_LABELS = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat", "socks",
    "pants", "jumpsuits", "scarf", "skirt", "face", "left-arm", "right-arm", "left-leg", "right-leg",
    "left-shoe", "right-shoe",
)  # fmt: skip
NUM_LIP_LABELS = len(LIP_LABELS)

BACKGROUND = 0
HAT, HAIR, GLOVE, SUNGLASSES = 1, 2, 3, 4
UPPER_CLOTHES, DRESS, COAT, SOCKS, PANTS, JUMPSUITS, SCARF, SKIRT = 5, 6, 7, 8, 9, 10, 11, 12
FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE = 13, 14, 15, 16, 17, 18, 19

# Kept as the photo's own pixels and shown to the networks as RGB.
HEAD_LABELS = (HAT, HAIR, SUNGLASSES, FACE)
LOWER_BODY_LABELS = (SOCKS, PANTS, SKIRT, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE)
# The worn top garment: the warper's target region.
TOP_GARMENT_LABELS = (UPPER_CLOTHES, DRESS, COAT)
# What a top try-on repaints: the old garment, the arms and what else covers the torso.
TRYON_REGION_LABELS = (GLOVE, UPPER_CLOTHES, DRESS, COAT, JUMPSUITS, SCARF, LEFT_ARM, RIGHT_ARM)

# Pairs swapped by a horizontal flip.
LIP_FLIP_PAIRS = ((LEFT_ARM, RIGHT_ARM), (LEFT_LEG, RIGHT_LEG), (LEFT_SHOE, RIGHT_SHOE))

COCO18_NAMES = (
    "nose", "neck", "r-shoulder", "r-elbow", "r-wrist", "l-shoulder", "l-elbow", "l-wrist", "r-hip",
    "r-knee", "r-ankle", "l-hip", "l-knee", "l-ankle", "r-eye", "l-eye", "r-ear", "l-ear",
)  # fmt: skip
NUM_KEYPOINTS = len(COCO18_NAMES)
# Index pairs swapped by a horizontal flip (right <-> left).
COCO18_FLIP_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))

# OpenPose BODY_25 (VITON-HD) -> COCO-18: COCO index i takes BODY_25 point BODY25_TO_COCO18[i].
# BODY_25 inserts mid-hip at 8 and appends feet (19-24), so its hips are 9 and 12, not 8 and 11.
BODY25_NAMES = (
    "nose", "neck", "r-shoulder", "r-elbow", "r-wrist", "l-shoulder", "l-elbow", "l-wrist", "mid-hip",
    "r-hip", "r-knee", "r-ankle", "l-hip", "l-knee", "l-ankle", "r-eye", "l-eye", "r-ear", "l-ear",
    "l-big-toe", "l-small-toe", "l-heel", "r-big-toe", "r-small-toe", "r-heel",
)  # fmt: skip
NUM_BODY25_KEYPOINTS = len(BODY25_NAMES)
BODY25_TO_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)

# CIHP (VITON-HD's image-parse-v3) uses LIP's labels except 10, which is torso-skin instead of jumpsuits.
CIHP_TORSO_SKIN = 10
