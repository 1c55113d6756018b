"""The batch farm on Ray Data: the driver and one render round as actor pools."""
