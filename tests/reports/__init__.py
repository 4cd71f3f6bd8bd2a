"""Tests of the monthly situation reports and their offline exports (#8)."""
