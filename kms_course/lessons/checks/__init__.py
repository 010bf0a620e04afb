"""The checks of every lesson's practice exercises, one module per lesson (see
:mod:`kms_course.lessons.exercises`)."""
