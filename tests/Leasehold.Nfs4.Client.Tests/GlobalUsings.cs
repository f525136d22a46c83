// The protocol vocabulary (NfsStat4, NfsOpcode, CbOpcode) is shared with the server.
global using Leasehold.Nfs4.Protocol;
