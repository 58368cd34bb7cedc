from voxelflow.cli import main

main()
