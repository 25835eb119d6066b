"""Attribute classifiers for any domain: labelled-photo datasets, training, and the classifier file format.

    photos = load_labelled_photos("list_attr_celeba.txt", "img_celeba/", attributes=["Smiling", "Eyeglasses"])
    report = train_classifier(photos.images, photos.labels, ClassifierTrainConfig(photos.attributes), "runs/clf",
                              "smile_glasses.safetensors")
    clf = load_classifier("smile_glasses.safetensors")          # images in [-1, 1] -> logits, clf.output_names
    mine = AttributeClassifier(my_module, ["smile"], input_size=224)   # a user's own nn.Module
"""

from latentedit.classifiers.dataset import LabelledPhotos, load_labelled_photos
from latentedit.classifiers.labels import LabelFileError, LabelledSet, read_label_file, write_celeba_labels
from latentedit.classifiers.metrics import attribute_report, balanced_accuracy, positive_weights, roc_auc
from latentedit.classifiers.model import (BACKBONES, CLASSIFIER_KIND, AttributeClassifier, ClassifierError,
                                          build_backbone, is_classifier_file, load_classifier, load_classifier_file,
                                          save_classifier, select_attributes)
from latentedit.classifiers.training import ClassifierTrainConfig, train_classifier

__all__ = ["BACKBONES", "CLASSIFIER_KIND", "AttributeClassifier", "ClassifierError", "ClassifierTrainConfig",
           "LabelFileError", "LabelledPhotos", "LabelledSet", "attribute_report", "balanced_accuracy",
           "build_backbone", "is_classifier_file", "load_classifier", "load_classifier_file", "load_labelled_photos",
           "positive_weights", "read_label_file", "roc_auc", "save_classifier", "select_attributes",
           "train_classifier", "write_celeba_labels"]
