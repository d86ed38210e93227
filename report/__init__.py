"""``hosiery-report``: production, downtime by stop reason and OEE per shift, day or month."""
