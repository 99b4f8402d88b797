SELECT state FROM campaigns WHERE id = $1
