"""The Ray-free render core: the track lifecycle, the stage shell, fingerprints, the settings loader, local renders."""
