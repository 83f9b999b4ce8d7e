"""Writing a case: the atomic results folder, fields for ParaView, tables, the report."""
