"""Shared pieces of the Streamlit app: configuration, the API client, forms, charts."""
