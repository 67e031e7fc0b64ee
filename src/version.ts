// The package version and the wire protocol version. Clients compare PROTOCOL, not VERSION.
export const VERSION = '0.1.0';
export const PROTOCOL = 1;
