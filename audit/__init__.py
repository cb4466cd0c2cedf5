"""The tamper-evident audit log: every change, hash-chained; everything else records here."""
