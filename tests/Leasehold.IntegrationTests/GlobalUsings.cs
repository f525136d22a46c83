// The client's attributes, not System.IO's file flags.
global using FileAttributes = Leasehold.Nfs4.Client.FileAttributes;
