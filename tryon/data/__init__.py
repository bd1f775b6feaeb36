"""Dataset readers, keypoint and label conversion, augmentation and synthetic fixtures."""
