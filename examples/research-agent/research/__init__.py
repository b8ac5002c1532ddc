"""The research assistant: answers questions from local documents, asks before sending a report."""
