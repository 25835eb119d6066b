"""The ``latentedit toyfaces …`` commands, registered through the ``latentedit.commands`` entry point group."""
