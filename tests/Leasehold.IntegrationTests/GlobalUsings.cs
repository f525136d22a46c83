// The client's attributes, not System.IO's file flags.
global using FileAttributes = Leasehold.Nfs4.Client.FileAttributes;
// The protocol vocabulary (NfsStat4, NfsOpcode) is shared with the server.
global using Leasehold.Nfs4.Protocol;
