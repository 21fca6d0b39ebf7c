"""The staff console: a small web application, in its own process, where clinic staff sign in.

``python -m console`` starts it (``make run`` does, beside the two servers). Server-rendered
pages (Jinja2, autoescaped), no JavaScript, its own CSS; accounts, sessions, failed-login waits
and the audit log live in the clinic's database (``clinic/staff_accounts.py``).
"""
