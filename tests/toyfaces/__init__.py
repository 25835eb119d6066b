"""Tests of the toy-faces domain plugin (latentedit_toyfaces)."""
