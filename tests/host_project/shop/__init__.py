"""The shop's own app: a task of its own and the goods page that tells the owner about a visit."""
