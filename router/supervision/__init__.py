"""The supervisor's workbench: team set-up (agents, skills, capacity, working hours), live monitoring and the audit
trail of what supervisors did."""
