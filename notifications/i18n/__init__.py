"""Languages: what each user reads the site and their notifications in."""
