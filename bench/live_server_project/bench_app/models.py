"""
A schema the size of a real app's: MODEL_COUNT models with a few columns
each, chained by foreign keys, every fifth with a many-to-many table.
"""

from django.db import models

MODEL_COUNT = 40


def entity(number, previous):
    attributes = {
        "__module__": __name__,
        "name": models.CharField(max_length=100),
        "slug": models.SlugField(blank=True),
        "amount": models.DecimalField(max_digits=10, decimal_places=2, default=0),
        "active": models.BooleanField(default=True),
        "created": models.DateTimeField(auto_now_add=True),
    }
    if previous is not None:
        attributes["parent"] = models.ForeignKey(
            previous, models.CASCADE, null=True, related_name="+"
        )
        if number % 5 == 0:
            attributes["related"] = models.ManyToManyField(previous, related_name="+")
    name = f"Entity{number:02d}"
    return type(name, (models.Model,), attributes)


_previous = None
for _number in range(MODEL_COUNT):
    _previous = globals()[f"Entity{_number:02d}"] = entity(_number, _previous)
