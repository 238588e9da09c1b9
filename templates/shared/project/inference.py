# Your predict code: how to load the model and turn request rows into predictions. Yours to edit; deploygen never overwrites it.
{% include "project/inference/" ~ cookiecutter.framework ~ ".py" %}
