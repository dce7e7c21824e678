"""Motion analysis for fitness and biomechanics: joint and segment angles, one main person, offline
Butterworth filtering with gap filling. numpy, and SciPy's signal module for the filter (the `analysis`
extra); nothing here reads media or writes outputs."""

from .analysis import DEFAULT_CUTOFF_HZ, FILTERS, AnalysisOptions, add_angles, analyse_clip
from .angles import ANGLE_NAMES, JOINTS, SEGMENTS, angle_parts, angle_table, pose_angles
from .filtering import AnalysisError
from .selection import PERSON_CHOICES, PersonSelector, parse_person

__all__ = ["ANGLE_NAMES", "DEFAULT_CUTOFF_HZ", "FILTERS", "JOINTS", "PERSON_CHOICES", "SEGMENTS", "AnalysisError",
           "AnalysisOptions", "PersonSelector", "add_angles", "analyse_clip", "angle_parts", "angle_table",
           "parse_person", "pose_angles"]
