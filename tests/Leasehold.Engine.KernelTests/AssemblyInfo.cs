// /proc/sys/fs/lease-break-time is one setting for the whole machine, and some tests change it: run tests one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
