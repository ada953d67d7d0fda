"""Stand-ins for the Wazuh manager daemons and tools, for tests on a chroot test server only."""
