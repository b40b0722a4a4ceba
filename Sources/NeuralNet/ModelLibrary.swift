/// The graph models Backprop ships, as specs (see `ModelSpec`). Each is also a model file in
/// `models/`, which reads as the same spec; the files say where the models come from.
enum ModelLibrary {
    /// Deep Learning with Python's cats-vs-dogs convnet (models/dlwp-convnet.yaml).
    static let dlwpConvnet = "conv32x3-relu,maxpool2,conv64x3-relu,maxpool2,conv128x3-relu,maxpool2,conv128x3-relu,maxpool2,flatten,dropout0.5,dense512-relu,dense1-sigmoid"

    /// keras.io's "Image classification from scratch" model (models/mini-xception.yaml, width 1).
    static let miniXception = "conv128x3s2same,batchnorm,block0=relu,relu,sepconv256x3same,batchnorm,relu,sepconv256x3same,batchnorm,pool1=maxpool3s2same,shortcut1=conv256x1s2same<block0,block1=add<pool1+shortcut1,relu,sepconv512x3same,batchnorm,relu,sepconv512x3same,batchnorm,pool2=maxpool3s2same,shortcut2=conv512x1s2same<block1,block2=add<pool2+shortcut2,relu,sepconv728x3same,batchnorm,relu,sepconv728x3same,batchnorm,pool3=maxpool3s2same,shortcut3=conv728x1s2same<block2,block3=add<pool3+shortcut3,sepconv1024x3same,batchnorm,relu,gap,dropout0.25,dense1-sigmoid"
}
