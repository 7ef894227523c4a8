"""The parts of ``mloop.data.validate``, one per phase of a validation run.

``state`` holds what the phases share (the run and each check's state); ``schema`` checks
the columns from the schema alone; ``plan`` writes the SQL of the one aggregate scan and
``scan`` runs it (with the grouped and example queries); ``outcomes`` turns the scanned
values into results; ``unique`` and ``custom`` run uniqueness keys and custom Python checks.
"""
