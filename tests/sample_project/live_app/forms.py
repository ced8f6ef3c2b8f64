from django import forms

from .models import Row


class RowForm(forms.ModelForm):
    class Meta:
        model = Row
        fields = ["text"]
