// System.IO (an implicit using) has its own FileAttributes; ours is the export's.
global using FileAttributes = Leasehold.Export.FileAttributes;
