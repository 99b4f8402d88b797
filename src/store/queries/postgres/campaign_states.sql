SELECT id, state FROM campaigns
