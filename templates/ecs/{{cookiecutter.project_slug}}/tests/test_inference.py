{% include 'project/test_inference.py' -%}
