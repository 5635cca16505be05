"""The command-line tools; each is also ``python -m grasp_perception.<tool>``.

=========  ==============================================  =================================
command    does                                            library it drives
=========  ==============================================  =================================
train      train a network from ``config/train/*.yaml``    :mod:`grasp_perception.training`
evaluate   rectangle metric of a model on a dataset        :mod:`grasp_perception.evaluation`
predict    grasps and an overlay for one RGB-D image       :mod:`grasp_perception.inference`
export     TorchScript / ONNX (fp32, int8) exports         :mod:`grasp_perception.model_export`
benchmark  where the time goes, per network and backend    :mod:`grasp_perception.inference`
=========  ==============================================  =================================
"""
