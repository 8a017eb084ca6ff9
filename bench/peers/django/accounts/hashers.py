from django.contrib.auth.hashers import Argon2PasswordHasher


class SesameCostArgon2Hasher(Argon2PasswordHasher):
    """argon2id at Sesame's default cost (OWASP's first recommendation), so a login hashes the
    same work on both sides of the comparison."""

    algorithm = "argon2sesame"
    time_cost = 2
    memory_cost = 19 * 1024
    parallelism = 1
