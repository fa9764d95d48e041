// Package testnet starts N real shoal nodes in one process on 127.0.0.1,
// sharing one key and connected through bootstrap addresses, with fault
// injection (kill, restart, partition, heal) for multi-peer tests.
package testnet
