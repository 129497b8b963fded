"""Realistic sample exports: benign traffic, planted attacks of every rule's class, and benign look-alikes."""
