// Teach: demonstrations, datasets and waypoint programs (docs/DATASET.md).
