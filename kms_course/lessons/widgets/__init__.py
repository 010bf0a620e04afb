"""The lessons' widgets: :mod:`~kms_course.lessons.widgets.key_explorer`,
:mod:`~kms_course.lessons.widgets.stepper` (the envelope stepper) and
:mod:`~kms_course.lessons.widgets.display` (keys as tables). Their plain-text and HTML forms come
from :class:`kms_course.widget_text.TextForm`.
"""
