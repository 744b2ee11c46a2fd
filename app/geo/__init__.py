"""Framework-free geospatial core of gridmap: storage, CRS, grid index, address matching, coverage."""
