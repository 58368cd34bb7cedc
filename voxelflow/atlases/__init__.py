"""ROI definitions: NSD label tables, ROI -> voxel masks and unions, resampling between spaces."""
