"""The core: errors, settings, resource names, time parsing, credentials and cloud endpoints every stage shares."""
