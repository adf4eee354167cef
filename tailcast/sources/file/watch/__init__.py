"""Directory watch backends shared by every followed file of the process."""
