"""What the reader knows of Keras class names, before anything else: the
built-in layer classes of Keras 2 and 3, the ones that carry Python code, the
model containers, and the modules Keras's own objects come from.  Nothing named
in a file is ever imported, decoded or executed; classes are matched against
these tables."""
from __future__ import annotations

import re

#: Layer classes that exist only as Python code in the configuration (marshalled bytecode or a
#: reference to a TensorFlow function) or wrap foreign code.  Refused by name, never decoded.
CODE_LAYER_CLASSES = frozenset({
    "Lambda", "TFOpLambda", "SlicingOpLambda", "TFSMLayer", "JaxLayer", "FlaxLayer",
    "TorchModuleWrapper", "Layer", "Wrapper",
})

#: Built-in layer class names of Keras 3 (``keras.layers``) and Keras 2 (``tf_keras.layers``),
#: including the public aliases Keras accepts as ``class_name`` when deserialising.
BUILTIN_LAYER_CLASSES = frozenset({
    # core
    "InputLayer", "Dense", "EinsumDense", "Activation", "Embedding", "Masking", "Identity",
    "ReversibleEmbedding",
    # convolution
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose",
    "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConvolution1D",
    "SeparableConvolution2D", "LocallyConnected1D", "LocallyConnected2D",
    # pooling
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
    # normalisation
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization", "SpectralNormalization",
    # activations
    "ReLU", "Softmax", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU",
    # regularisation
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
    "GaussianNoise", "AlphaDropout", "ActivityRegularization",
    # reshaping
    "Reshape", "Flatten", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D",
    # merging
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    # attention
    "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupedQueryAttention",
    "GroupQueryAttention",
    # recurrent
    "RNN", "SimpleRNN", "SimpleRNNCell", "GRU", "GRUCell", "LSTM", "LSTMCell", "ConvLSTM1D",
    "ConvLSTM2D", "ConvLSTM3D", "StackedRNNCells", "AbstractRNNCell", "Bidirectional",
    "TimeDistributed",
    # preprocessing
    "CategoryEncoding", "CenterCrop", "Discretization", "HashedCrossing", "Hashing",
    "IntegerLookup", "StringLookup", "TextVectorization", "Normalization", "Rescaling",
    "Resizing", "MelSpectrogram", "STFTSpectrogram", "Pipeline", "DenseFeatures",
    "AugMix", "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "CutMix",
    "Equalization", "MaxNumBoundingBoxes", "MixUp", "RandAugment", "RandomBrightness",
    "RandomColorDegeneration", "RandomColorJitter", "RandomContrast", "RandomCrop",
    "RandomElasticTransform", "RandomErasing", "RandomFlip", "RandomGaussianBlur",
    "RandomGrayscale", "RandomHeight", "RandomHue", "RandomInvert", "RandomPerspective",
    "RandomPosterization", "RandomRotation", "RandomSaturation", "RandomSharpness",
    "RandomShear", "RandomTranslation", "RandomWidth", "RandomZoom", "Solarization",
})

SEQUENTIAL_CLASSES = frozenset({"Sequential"})
FUNCTIONAL_CLASSES = frozenset({"Functional", "Model"})

_KERAS_MODULE = re.compile(r"^(tf_)?keras(\..+)?$|^tensorflow\.(python\.)?keras(\..+)?$")


def is_keras_module(module) -> bool:
    return isinstance(module, str) and _KERAS_MODULE.match(module) is not None
